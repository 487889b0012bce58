# Jupyter Server settings for Binder; postBuild copies this file to ~/.jupyter/.
#
# Every notebook's kernel holds its own PyTorch (1.0-1.5 GB each, measured by
# tools/run_notebooks.py), and a Binder session has about 2 GB in all. A learner who closes a
# notebook's tab without shutting its kernel down leaves that memory taken, and the next
# notebook then dies. So: shut down kernels that no open tab is using once they have been idle
# for 10 minutes. A kernel whose notebook is open in a tab is never shut down, however long the
# learner reads.
c = get_config()  # noqa: F821 (Jupyter defines get_config when it loads this file)
c.MappingKernelManager.cull_idle_timeout = 600  # seconds idle before a kernel is shut down
c.MappingKernelManager.cull_interval = 60  # how often to check, in seconds
c.MappingKernelManager.cull_connected = False  # never cull a kernel that a tab is connected to
c.MappingKernelManager.cull_busy = False  # never cull a kernel that is running a cell
