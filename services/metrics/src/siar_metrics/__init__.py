"""Engagement and audience over time: a decaying collection schedule per published post, a
daily audience reading per account, samples kept as long as the library decides, and reports."""
