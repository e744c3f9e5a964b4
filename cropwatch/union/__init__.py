"""The union of cooperatives: what its admin reads across the cooperatives."""
