"""Threadline: a self-hosted server for the OpenAI Responses and Conversations APIs."""

__version__ = "0.1.0"
