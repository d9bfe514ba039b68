"""Reinforcement-learning agents in the Brain/Muscle/Objective style, brain and muscles over ZeroMQ, channel-described environments."""
