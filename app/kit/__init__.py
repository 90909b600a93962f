"""Pieces every domain shares: region scope (`scope`), pages of a listing (`pages`) and the
audited write (`audited`)."""
