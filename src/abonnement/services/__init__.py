"""Use cases. Each one authorizes its caller by role and organization, then decides with the pure
domain and stores the result through the unit of work it is given. Services flush, never commit."""
