"""The same HTTP server under a name no test config matches."""
import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "agents", "httpserver_agent.py"),
               run_name="__main__")
