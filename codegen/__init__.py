"""tensorforge.codegen"""
