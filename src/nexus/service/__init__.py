"""nexus.service: the use cases every front door calls (ChatService and the rest) and the policy they
apply — identity, authentication, admission (rate limits, budgets), the guard, accounting, sessions."""
