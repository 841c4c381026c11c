"""Assignment: the expert roster, matching, offers and expert.assigned."""
