"""tensorforge.tuner"""
