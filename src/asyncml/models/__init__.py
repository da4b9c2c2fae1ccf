"""Model code: plain Python inference, no FastAPI or Celery imports."""
