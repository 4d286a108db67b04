"""Patron surveys: definitions, the public survey page, responses from the page, the API and
other systems, and their results."""
