"""Vector stores: the API's use cases, ingestion (extract, chunk, embed) and hybrid search."""
