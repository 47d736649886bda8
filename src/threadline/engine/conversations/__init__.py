"""The Conversations use case: the conversation and item endpoints (`service.py`), the claim a
turn holds on its conversation (`claims.py`), and export and import (`transfer.py`)."""
