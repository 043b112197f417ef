"""Implementations that run on TensorFlow SavedModels: Keras image-to-image and table classifiers."""
