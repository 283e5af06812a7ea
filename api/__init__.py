"""The HTTP face: FastAPI routes that only parse, authenticate and call ``commands/`` (writes) or ``projections/``
(reads). :func:`api.app.create_app` builds the application; ``jamsos serve`` runs it under uvicorn."""
