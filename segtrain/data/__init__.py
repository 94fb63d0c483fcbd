"""Framework-free data side: formats, class maps, manifests, cache, transforms, storage.

Nothing under ``segtrain.data`` imports torch or TensorFlow; both engines read samples
through :func:`segtrain.data.source.open_split` and augment them with
:func:`segtrain.data.transforms.build_transform`.
"""
