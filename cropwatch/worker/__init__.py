"""The detection worker application: the capture pipeline, the model cache, the Celery tasks."""
