"""The demo's exit code says what failed: a part of its graph that did not start or died
makes it 3 (the live page and the report's references are extras), and the shipped
parameter files have a section only for nodes of the graph."""

from robot_bringup.demo import failed_parts, misspelled_sections


def test_a_part_that_did_not_start_is_a_failure_an_extra_is_not():
    missing = {"brain_session": "could not start: ValueError: parameter 'url'",
               "live_view": "address in use", "references of learning": "ValueError: x"}
    assert failed_parts(missing) == {"brain_session": "could not start: ValueError: "
                                                      "parameter 'url'"}
    assert failed_parts({"live_view": "address in use"}) == {}


def test_the_shipped_files_name_only_nodes_of_the_graph():
    assert misspelled_sections("realtime") == ""
    assert misspelled_sections("device") == ""
