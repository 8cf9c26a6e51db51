"""Starting the local lab's supervisor on a loaded machine: for a moment after Popen returns, its
command line can read empty (seen in full-suite runs on this 2-core machine). The start must wait
for the supervisor it started (known by its Popen), not give up on it."""

from lab.backends.local import pids, processes as supervision


def test_start_waits_for_a_supervisor_whose_command_line_does_not_show_yet(tmp_path, monkeypatch):
    processes = supervision.Processes(tmp_path / "run")
    read_argv = pids.argv_of

    def empty_until_it_answers(pid):   # as between exec and the kernel setting the new argv, stretched
        return read_argv(pid) if processes.status_file.exists() else []

    monkeypatch.setattr(pids, "argv_of", empty_until_it_answers)
    try:
        processes.start_supervisor({})       # raised "did not answer" when it judged by the command line
        monkeypatch.undo()
        assert processes.supervisor_alive()
    finally:
        monkeypatch.undo()             # the real reader, so stop finds the supervisor whatever happened
        processes.stop_supervisor()
    assert not processes.supervisor_alive()
