"""segtrain's Optuna sweeper plugin for Hydra (``hydra/sweeper=segtrain_optuna``)."""
