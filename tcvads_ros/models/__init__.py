"""The TCVADS networks as torch modules, one file per paper component (paper §IV).

Build them by name with ``tcvads_ros.models.registry.create_model``. This package imports torch;
the coarse runtime path never imports it.
"""
