"""Stock: locations, inventory items (one per variant) and their levels per location."""
