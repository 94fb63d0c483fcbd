"""segtrain's SageMaker launcher plugin for Hydra (``hydra/launcher=sagemaker``)."""
