"""The "data safe room": computations over a subject's data whose inputs never leave.

``predicates`` answers verification (核验) questions with a boolean; ``scorecard`` computes a
credit score with reason codes. Both are pure functions of decrypted records and a date.
"""
