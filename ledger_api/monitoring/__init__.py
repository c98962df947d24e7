"""Monitoring and push: risk rules, the outbox, subscriptions, fan-out and delivery."""
