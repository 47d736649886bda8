"""Model providers: adapters from Threadline's neutral turn request to an upstream API."""
