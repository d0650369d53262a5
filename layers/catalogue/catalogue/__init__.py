"""Shared layer of the Perturbation Catalogue API: configuration, store clients, query builder, responses."""
