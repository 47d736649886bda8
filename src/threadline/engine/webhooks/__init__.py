"""Webhooks: endpoints a tenant registers, told when a background response ends."""
