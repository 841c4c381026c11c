"""The audit service: keeps the `audit.access` trail in a store nothing else writes, and answers
a compliance officer's question: who touched this child's case, when, from where, allowed?"""
