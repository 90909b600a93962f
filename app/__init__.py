"""lifecert: remote benefit-eligibility certification service."""
