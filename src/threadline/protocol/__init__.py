"""OpenAI's wire models (pydantic): requests Threadline accepts and the nouns it returns.

No logic and no I/O here, and nothing of Threadline's is imported: these mirror OpenAI's API.
"""
