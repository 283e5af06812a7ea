FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY commands commands
COPY projections projections
COPY eventstore eventstore
COPY services services
COPY cli cli
COPY api api
RUN pip install --no-cache-dir .
ENTRYPOINT ["jamsos"]
