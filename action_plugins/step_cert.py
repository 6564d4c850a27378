# step_cert runs from the module cache on the host, one exec per task: see _cached_binary.py.
import os.path
import runpy

ActionModule = runpy.run_path(os.path.join(os.path.dirname(__file__), "_cached_binary.py"))["CachedBinaryAction"]
