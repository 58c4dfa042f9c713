"""ACE infrastructure shared by trainers, selectors and dynamics (basis, active set, gamma, calculator, writer)."""
