"""Offline Ultralytics training, evaluation, ONNX export and model cards (``python -m training pest|ripeness``).

Import the submodules you need: ``training.train``, ``training.evaluate``, ``training.pipeline`` ...
Nothing here imports Ultralytics, so :func:`training.offline.load_ultralytics` can configure it first.
"""
