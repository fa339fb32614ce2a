"""The catalog: products, their variants, options, tags and images; CSV import and export."""
