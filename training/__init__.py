"""Training pipeline: MNIST data, the convnet, evaluation, the model store and the report."""

import os

# Must be set before TensorFlow is first imported; hides its C++ start-up chatter, keeps warnings.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
