"""Tools for the lab's developers (not used by a running lab): the mutation runner."""
