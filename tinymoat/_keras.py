"""The one place that picks the Keras implementation and imports TensorFlow.

tensorflow-model-optimization only works with Keras 2, so every model in this
package is a `tf_keras` model; the environment variable must be set before
TensorFlow is imported anywhere in the process. TensorFlow's C++ start-up
lines (oneDNN, CUDA probing) ignore TF_CPP_MIN_LOG_LEVEL and would bury the
one-line errors of the command-line tools, so the import runs with the
process's stderr captured; it is replayed if the import fails.
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_quietly():
    try:
        saved = os.dup(2)
    except OSError:  # no stderr file descriptor (embedded interpreters)
        import tensorflow
        import tf_keras
        return tensorflow, tf_keras
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow
            import tf_keras
            tensorflow.config.list_physical_devices("GPU")  # probe drivers now, quietly
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow, tf_keras


tf, keras = _import_quietly()

serializable = keras.utils.register_keras_serializable(package="tinymoat")

__all__ = ["tf", "keras", "serializable"]
