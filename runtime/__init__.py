"""tensorforge.runtime"""
