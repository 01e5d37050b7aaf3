"""What happens when…: every fault the console is tested against, what it does, and the tests
that show it. README.md's table between ``<!-- faults:begin -->`` and ``<!-- faults:end -->``
is rendered from this list, and tests/faults/test_catalog.py checks both that it is current
and that every test named here exists.

Regenerate the README section after changing this list::

    .venv/bin/python -m tests.faults.catalog --write     # rewrite README.md in place
    .venv/bin/python -m tests.faults.catalog             # print the section
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- faults:begin -->"
END = "<!-- faults:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"
#: references that are not pytest node ids
NOT_TESTS = {"make soak"}


@dataclass(frozen=True)
class Fault:
    area: str
    fault: str
    behaviour: str
    tests: tuple[str, ...]


SUP = "tests/faults/test_supervisord_faults.py"
RPC = "tests/faults/test_xmlrpc_faults.py"
GUN = "tests/faults/test_gunicorn_faults.py"
NGX = "tests/faults/test_nginx_faults.py"
LOG = "tests/faults/test_log_faults.py"
APP = "tests/tui/test_app.py"
CLI = "tests/integration/test_cli.py"
PRB = "tests/integration/test_probes.py"
FIL = "tests/faults/test_file_faults.py"
CFG = "tests/integration/test_real_configs.py"
GCF = "tests/integration/test_gunicorn_configs.py"
HOST = "tests/integration/test_local_host.py"
NEW = "tests/tui/test_new_user_bugs.py"
AGT = "tests/integration/test_agent.py"
FLT = "tests/fleet/test_fleet_faults.py"
FCLI = "tests/fleet/test_fleet_cli.py"
FDEMO = "tests/fleet/test_demo_fleet.py"
ROLL = "tests/integration/test_rolling.py"
NHIST = "tests/integration/test_nginx_history.py"
SPY = "tests/integration/test_pyspy.py"
ALR = "tests/integration/test_alerts.py"

CATALOG: list[Fault] = [
    Fault(
        "supervisord",
        "SIGKILLed, then started again",
        "The header turns to ✖ unreachable with the reason; keys keep working. Within 2 s of "
        "supervisord answering again the list is live and the timeline says *supervisord "
        "reachable again*.",
        (f"{APP}::test_supervisord_stopped_and_killed_then_back",),
    ),
    Fault(
        "supervisord",
        "SIGSTOPped for longer than the RPC timeout",
        "After the timeout the header says *not responding* (*no answer in N s … it may be "
        "hung, stopped (SIGSTOP) or overloaded*); keys keep working; it reconnects by itself "
        "once supervisord runs again.",
        (f"{APP}::test_supervisord_stopped_and_killed_then_back",),
    ),
    Fault(
        "supervisord",
        "killed, or the connection cut, in the middle of an answer",
        "At once (not after the timeout) the header says *supervisord at … closed the "
        "connection — it may be restarting; opsconsole keeps retrying*; the next refresh works "
        "again.",
        (
            "tests/integration/test_supervisor_wire.py::"
            "test_supervisord_killed_while_the_console_waits_is_a_clear_error",
            "tests/integration/test_supervisor_wire.py::"
            "test_answer_cut_off_half_way_is_a_clear_error_at_once",
        ),
    ),
    Fault(
        "supervisord",
        "stuck half-way through an answer",
        "After the RPC timeout: *not responding (no answer in N s …)*; quitting meanwhile is "
        "immediate (the pending call hangs up its connection at once).",
        (
            "tests/integration/test_supervisor_wire.py::"
            "test_stalled_answer_times_out_and_a_cancelled_call_hangs_up",
        ),
    ),
    Fault(
        "supervisord",
        "its socket replaced by a regular file",
        "Says *…/supervisor.sock is not a socket* with a hint, keeps retrying, and is back as "
        "soon as the socket is restored.",
        (f"{SUP}::test_socket_replaced_by_a_file_then_restored",),
    ),
    Fault(
        "supervisord",
        "its socket missing (supervisord never started)",
        "Says *socket … does not exist — is supervisord running?* and retries every refresh.",
        (f"{APP}::test_missing_socket_keeps_retrying",),
    ),
    Fault(
        "supervisord",
        "its password changed under us",
        "Header *auth failed*; *the username/password from [its source] was "
        "rejected* — the source is named, never the password; recovers when they match again.",
        (
            f"{SUP}::test_password_changed_under_us",
            f"{APP}::test_wrong_password_opens_and_explains",
        ),
    ),
    Fault(
        "supervisord",
        "one of several supervisords down",
        "Its name is marked ✖ unreachable in the header; the others are listed and usable.",
        (f"{APP}::test_several_supervisords_one_down",),
    ),
    Fault(
        "supervisord",
        "an answer larger than 64 MB, or one that never ends",
        "Stops reading at the limit: *answer from [url] to [method] is larger than 64 MB; not "
        "read*; memory stays bounded, keys keep working, recovers when answers are sane.",
        (
            f"{RPC}::test_oversized_answer_is_refused_after_the_limit",
            f"{RPC}::test_console_shows_bad_answers_and_recovers",
        ),
    ),
    Fault(
        "supervisord",
        "a malformed answer: not XML-RPC, cut short, HTTP 500, the wrong shape, a bad field",
        "A clear error in the header: *… is not valid XML-RPC*, *… answered HTTP 500*, *… is "
        "not the 4 results asked for*, *… has a malformed entry*, with the hint *is the URL "
        "really supervisord's XML-RPC server?*; the list comes back with good answers.",
        (
            f"{RPC}::test_malformed_answers_are_clear_protocol_errors",
            f"{RPC}::test_console_shows_bad_answers_and_recovers",
            f"{RPC}::test_any_well_formed_answer_gives_a_value_or_a_supervisor_error",
        ),
    ),
    Fault(
        "supervisord",
        "reached by a URL that is not this machine's",
        "Its programs are listed, but their pids are never matched to local processes: no "
        "local nginx or gunicorn master is shown as one of its programs.",
        (f"{HOST}::test_a_remote_supervisords_pids_are_never_matched_to_local_processes",),
    ),
    Fault(
        "supervisord config",
        "the stock sample, the Debian/Ubuntu file, %(ENV_X)s socket and credentials, "
        "`*:9001` without serverurl, a relative or `~` socket path",
        "Read by supervisorctl's own code: `opsconsole status` lists what `supervisorctl status` "
        "lists, or fails where it fails, on the same socket or URL.",
        (
            f"{CFG}::test_stock_sample",
            f"{CFG}::test_debian_ubuntu_file",
            f"{CFG}::test_env_expanded_socket_and_credentials",
            f"{CFG}::test_any_interface_port_without_serverurl",
            f"{CFG}::test_relative_socket_path",
            f"{CFG}::test_socket_in_home_directory",
            "tests/unit/test_config.py::test_corpus_read_as_supervisorctl_reads_it",
        ),
    ),
    Fault(
        "supervisord config",
        "no [supervisorctl] section, or credentials only in the server section",
        "Only where supervisorctl is refused: the server section's address and plain password, "
        "named as a fallback in messages; a {SHA} password is never half-sent (no user "
        "without it).",
        (
            f"{CFG}::test_no_supervisorctl_section_is_a_labelled_fallback",
            f"{CFG}::test_credentials_only_in_server_section",
            "tests/unit/test_config.py::test_server_credentials_only_for_that_server",
        ),
    ),
    Fault(
        "supervisord config",
        "a value supervisor cannot expand (a stray %, an unset %(ENV_X)s), a broken line",
        "A config error naming the file, the key or line and the variable; never the password, "
        "nor the list of environment variable names.",
        (
            "tests/unit/test_config.py::test_unset_env_variable_is_a_clear_error_without_secrets",
            "tests/unit/test_config.py::test_badly_formatted_password_never_shown",
            "tests/unit/test_config.py::test_broken_ini_is_a_clear_error",
            "tests/unit/test_config_fuzz.py::test_supervisor_ini_any_text",
        ),
    ),
    Fault(
        "gunicorn",
        "a master killed while a scale waits for its workers",
        "The wait ends at once: *Scale workers failed: process N no longer exists — refresh "
        "and retry* (toast and timeline); nothing more is sent; the progress line and the dead "
        "master go away, other masters stay; the restarted master shows up by itself.",
        (f"{GUN}::test_master_killed_while_a_scale_waits",),
    ),
    Fault(
        "gunicorn",
        "a worker SIGSTOPped (stuck), then killed by the master's timeout",
        "Within timeout/2 + 1 s the worker is flagged *◆ stuck* (and *‖ stopped*); when the "
        "master kills it, the new worker takes its row and the flags clear; `l` on the master "
        "shows *WORKER TIMEOUT (pid:N)* from its error log.",
        (
            f"{GUN}::test_stuck_worker_is_flagged_then_replaced_after_the_timeout",
            "tests/integration/test_gunicorn.py::"
            "test_stopped_worker_is_marked_stuck_within_half_the_timeout",
        ),
    ),
    Fault(
        "gunicorn",
        "a master's pid reused by another process before an action",
        "Checked right before sending: *pid N now belongs to another process (…) — nothing was "
        "sent; refresh and look again*; no signal reaches the new process; the stale row "
        "disappears on the next scan.",
        (
            f"{GUN}::test_master_pid_reused_before_the_action_is_refused",
            "tests/integration/test_gunicorn.py::test_pid_that_changed_identity_is_refused",
        ),
    ),
    Fault(
        "gunicorn",
        "several masters bound to one control-socket path (gunicorn's default "
        "`~/.gunicorn/gunicorn.ctl` for every master of one user, or a shared config)",
        "No command, reading or changing, goes over a socket unless the kernel names the master "
        "as its listener (SO_PEERCRED pid and start time, checked on each connection, again "
        "right before a scale sends). Otherwise the master is read from /proc, scaled with "
        "TTIN/TTOU, and the tree says *⇄ ctl: shared path, not used* with the reason (*answered "
        "by pid N …, not gunicorn master M … nothing was sent*). Scaling each of three masters "
        "in turn moves only its own workers; each shows its own target.",
        (
            f"{GUN}::test_cli_scales_only_its_own_master_on_a_shared_control_socket",
            f"{GUN}::test_tui_scales_only_its_own_master_on_a_shared_control_socket",
            f"{GUN}::test_scale_checks_the_socket_again_right_before_sending",
            "tests/integration/test_gunicorn.py::"
            "test_control_socket_of_another_master_is_refused_before_sending",
        ),
    ),
    Fault(
        "gunicorn",
        "a request names a master whose pid now belongs to another process",
        "Refused before anything is sent (*pid N is no longer the gunicorn master that was "
        "shown; nothing was sent; refresh and look again*): the request carries the create "
        "time shown.",
        (f"{HOST}::test_a_request_naming_a_master_that_is_no_longer_that_process_is_refused",),
    ),
    Fault(
        "gunicorn",
        "a supervisor program that starts gunicorn through a shell (`sh -c 'gunicorn …; …'`)",
        "The topology names the real master (the shell's child, the pid the gunicorn tree "
        "shows) with the supervisor program below it; the shell is never called a master.",
        (
            "tests/integration/test_nginx.py::"
            "test_topology_names_the_gunicorn_master_below_a_shell_wrapper",
            "tests/unit/test_nginx_parse.py::"
            "test_process_chain_skips_a_shell_wrapper_and_names_the_master",
        ),
    ),
    Fault(
        "gunicorn",
        "a config file with annotated settings (`workers: int = 4`)",
        "Read like plain assignments: the tree shows the count, timeout and bind gunicorn runs.",
        (f"{GCF}::test_corpus_config_shows_what_gunicorn_runs[annotated]",),
    ),
    Fault(
        "gunicorn",
        "a worker count computed in the config file (`WEB_CONCURRENCY`, `cpu_count()`)",
        "Shown as configured *?* / *unknown*, never the stale literal or a default; the "
        "master's control socket settles it when it answers.",
        (
            f"{GCF}::test_corpus_config_shows_what_gunicorn_runs[heroku_web_concurrency]",
            f"{GCF}::test_corpus_config_shows_what_gunicorn_runs[docs_cpu_count]",
            f"{GCF}::test_what_the_master_says_on_its_control_socket_settles_the_unknowns",
        ),
    ),
    Fault(
        "gunicorn",
        "a timeout as arithmetic (`5 * 60`) or set under a condition",
        "Constants folded (300 s); a branch-dependent timeout is shown as *unknown* and never "
        "marks workers stuck.",
        (
            f"{GCF}::test_corpus_config_shows_what_gunicorn_runs[constant_arithmetic]",
            f"{GCF}::test_corpus_config_shows_what_gunicorn_runs[conditional]",
        ),
    ),
    Fault(
        "gunicorn",
        "`--threads 4` with the default worker class; masters started as `gunicorn3`, "
        "`gunicorn-3` or `python -m gunicorn`",
        "Shows *gthread* as gunicorn runs it, whichever launcher started the master; command "
        "line over `GUNICORN_CMD_ARGS` over the config file, as gunicorn orders them.",
        (
            f"{GCF}::test_distribution_launchers_and_threads_switch_to_gthread",
            f"{GCF}::test_command_line_over_env_over_config_file",
        ),
    ),
    Fault(
        "nginx",
        "its binary missing from PATH",
        "Status still shows master and workers; the summary says *nginx binary nginx not "
        "found or not executable*; `t` (and `R`, which tests first) says so with *install it "
        "with `sudo apt-get install nginx-light`, or set [nginx] binary*; once nginx is on "
        "PATH, `t` works, no restart.",
        (
            f"{NGX}::test_binary_missing_from_path_then_installed",
            "tests/integration/test_nginx.py::test_missing_binary_is_a_clear_error",
            "tests/integration/test_nginx.py::test_cli_missing_binary",
        ),
    ),
    Fault(
        "nginx",
        "its config directory unreadable (console not root)",
        "Status keeps refreshing; `t` says *cannot read nginx config [path]: permission denied "
        "(on a directory above it) — run opsconsole as a user who can read it (or with sudo)*; "
        "works again once the directory is readable.",
        (
            f"{NGX}::test_config_dir_unreadable_then_readable",
            "tests/integration/test_nginx.py::test_unreadable_config_is_a_clear_error",
        ),
    ),
    Fault(
        "nginx",
        "its master owned by another user (the reload signal gets EPERM)",
        "`nginx -t` runs, the signal is refused: *not permitted to reload nginx: master pid N "
        "belongs to user root (EPERM); nothing was changed — run opsconsole with sudo (or as "
        "root)*; the old workers keep serving.",
        (
            f"{NGX}::test_reload_of_another_users_master_is_refused_in_words",
            "tests/integration/test_nginx.py::"
            "test_reload_of_another_users_master_explains_and_suggests_sudo",
        ),
    ),
    Fault(
        "nginx",
        "`try_files … @name` falling back to a named location, or to one that does not exist",
        "The topology shows *location @name* and links the location through *try_files → "
        "location @name* to the upstream, gunicorn master and program behind it; a missing "
        "named location (nginx -t passes, requests get 500) is flagged with file:line.",
        (
            "tests/integration/test_nginx.py::"
            "test_try_files_falls_back_to_a_named_location_upstream",
            "tests/unit/test_nginx_parse.py::test_named_location_label_and_try_files_link",
        ),
    ),
    Fault(
        "nginx",
        "the master shown is no longer the serving one when the operator says yes to a reload "
        "(pid reused, nginx restarted in between)",
        "Refused through the gate, audited, no signal sent: *nginx master N that was shown is "
        "no longer the serving master: the serving master is M now* — *nothing was sent; look "
        "at the nginx view again*; the old workers keep serving.",
        (
            "tests/integration/test_nginx_reload_proof.py::"
            "test_reload_of_a_master_that_is_no_longer_the_one_shown_is_refused",
        ),
    ),
    Fault(
        "nginx",
        "not a supervisor program (run by systemd or by hand)",
        "Every address its master listens on gets a health probe named `nginx` (each address "
        "once; a supervised nginx keeps its program's name): HTTP 200 while it serves, *no "
        "answer* once it is stopped.",
        (f"{PRB}::test_an_nginx_outside_supervisor_is_probed",),
    ),
    Fault(
        "logs",
        "a log file it may not read",
        "The log's status line shows *✖ no permission to read …*; keys keep working; once "
        "readable every line appears once, including those written meanwhile.",
        (f"{LOG}::test_unreadable_log_then_readable",),
    ),
    Fault(
        "logs",
        "a program whose output is not UTF-8 on every line (supervisord answers HTTP 500 for it)",
        "`opsconsole tail NAME -n 3` ends within seconds with the last 3 lines, the bad bytes "
        "as *�*; `l` shows them and follows while supervisord works no harder than for normal "
        "refreshes (the log file is read directly). When the console cannot read the file, "
        "reads over XML-RPC keep to a fixed budget of calls per refresh, keep up with the end "
        "of the log, mark what they skip (*[… N bytes not shown: supervisord cannot send them "
        "(not UTF-8)]*) and the status line says why.",
        (
            f"{LOG}::test_tail_of_a_log_that_is_not_utf8_ends_with_its_last_lines",
            f"{LOG}::test_log_view_of_a_log_that_is_not_utf8",
            f"{LOG}::test_log_not_utf8_over_xmlrpc_is_read_within_a_budget",
        ),
    ),
    Fault(
        "logs",
        "log bytes supervisord puts raw into its XML (ESC, NUL), re-read tolerantly",
        "The re-read goes through the supervisor client like every other call: the read-only "
        "spy sees it, and the timeout, the 64 MB answer cap and errors in words apply.",
        (f"{HOST}::test_tolerant_log_reads_go_through_the_client",),
    ),
    Fault(
        "logs",
        "more logs merged in one view than a host keeps open by default (a group's stdout and "
        "stderr)",
        "Every log is followed through the host, none closed under the view, no error.",
        (
            "tests/tui/test_log_view.py::"
            "test_logs_view_merges_more_logs_than_a_host_keeps_open_by_default",
        ),
    ),
    Fault(
        "logs",
        "scroll-back through the host asks for too many lines, both after and before, or a "
        "closed log",
        "Refused in words (what happened and what to do), nothing read.",
        (f"{HOST}::test_scroll_back_through_the_host_refuses_bad_counts_in_words",),
    ),
    Fault(
        "logs",
        "a followed log deleted (and created again)",
        "Keeps reading the open file to its end, then follows the new file when the path "
        "reappears: nothing lost, nothing repeated.",
        ("tests/integration/test_logs.py::test_delete_and_recreate",),
    ),
    Fault(
        "logs",
        "a followed log on a full filesystem",
        "Every complete line is shown, the line cut by ENOSPC waits for its end, no error; "
        "`:export` on the full disk says *cannot write …: No space left on device*; when space "
        "returns the log goes on, nothing lost or repeated.",
        (f"{LOG}::test_log_on_a_full_filesystem",),
    ),
    Fault(
        "logs",
        "supervisord SIGKILLed and started again while a program's log is open",
        "The log's status line says *✖ cannot connect to supervisord at …* once (not once per "
        "stream); within 3 s of supervisord answering again it is back to *● follow web, "
        "web:err*, one row, no stale error.",
        ("tests/tui/test_log_view.py::test_log_status_after_supervisord_killed_and_back",),
    ),
    Fault(
        "terminal",
        "resized 40 times in a row",
        "The selection stays on the same program; keys keep working.",
        (f"{SUP}::test_rapid_resizes_keep_selection",),
    ),
    Fault(
        "terminal",
        "started at 40x10",
        "State counts squeeze into the header; keys and `?` help work.",
        (f"{SUP}::test_starts_at_40x10",),
    ),
    Fault(
        "terminal",
        "the probe line appears above the tabs at 80x24, after the screen is drawn",
        "The bar that grew from nothing to one line gets a layout pass: on the terminal itself "
        "(its partial updates replayed) the tab row stays and the program table's header is "
        "drawn once.",
        (f"{NEW}::test_probe_line_appearing_keeps_tabs_and_one_table_header",),
    ),
    Fault(
        "keys",
        "`:logs web` and Enter arriving in one burst right after `:` (a paste, a fast typist, "
        "a laggy SSH link)",
        "Every key reaches the command bar in order and web's logs open; no key runs a binding "
        "of the view below (it ran `:audit`).",
        (f"{NEW}::test_keys_typed_right_after_colon_all_reach_the_command_bar",),
    ),
    Fault(
        "keys",
        "`?` help and the footer in the gunicorn view",
        "Keys are written as typed, `+` `-` `=` (help said `plus`, `minus`, `equals_sign`): "
        "help, footer and palette use one label function and one registry.",
        (
            f"{NEW}::test_help_writes_keys_as_typed_plus_minus_equals",
            "tests/tui/test_registry_keys.py::test_key_labels_are_what_is_typed",
        ),
    ),
    Fault(
        "keys",
        "the same key in different views",
        "One verb, one key (as in k9s): `K` signals a program or a gunicorn worker (picker: "
        "TERM, KILL, ABRT), `R` reloads, `p` is nginx's topology; `T` no longer means TERM in "
        "one view and topology in another.",
        (
            f"{NEW}::test_one_verb_one_key_in_every_view",
            f"{NEW}::test_signal_key_opens_the_picker_for_a_gunicorn_worker",
            "tests/unit/test_operations.py::test_one_verb_one_key_for_what_changes_something",
        ),
    ),
    Fault(
        "keys",
        "every key as `?`, the footer and the palette show it",
        "Pressed in its view (read-only), it runs the action the registry names and its "
        "operation reaches the gate; `enter` folds a group (the table swallowed it) and `tab` "
        "goes to the next view (it only moved the focus).",
        ("tests/tui/test_registry_keys.py::test_each_key_runs_its_operation",),
    ),
    Fault(
        "console",
        "a code path that forgets the gate, in a read-only console",
        "The lowest layer refuses anyway (*read-only mode: refused to send SIGTERM …*), in the "
        "console's workers and their threads, Textual's thread workers included; a read-only "
        "session leaves other sessions writable.",
        (
            "tests/tui/test_session.py::test_a_read_only_console_refuses_below_the_gate_too",
            "tests/tui/test_session.py::test_a_read_only_console_refuses_in_its_thread_workers_too",
            "tests/unit/test_gate_context.py::"
            "test_read_only_gate_governs_its_session_and_nothing_else",
        ),
    ),
    Fault(
        "console",
        "a key pressed in a view (programs, gunicorn, nginx)",
        "Reaches the host as one request only after the operator's yes, marked confirmed; a "
        "gunicorn request names the master by pid with the create time shown, so a changed "
        "pid is refused and nothing is sent.",
        (
            "tests/tui/test_through_host.py::"
            "test_program_and_gunicorn_keys_send_requests_to_the_host",
            "tests/tui/test_through_host.py::test_nginx_keys_send_requests_to_the_host",
        ),
    ),
    Fault(
        "command line",
        "global options (`-c`, `--supervisor-url`, `--user`, `--read-only`, …) after the "
        "subcommand: `opsconsole scale web +1 --supervisor-url URL --yes`",
        "Accepted anywhere on the line, nested subcommands too (`nginx status -c FILE`); given "
        "on both sides the later value wins, repeated `--supervisor-url`s add up; every "
        "subcommand's `--help` lists them (they were refused: *unrecognized arguments*).",
        (
            f"{CLI}::test_global_options_work_after_the_subcommand",
            f"{CLI}::test_subcommand_help_lists_the_global_options",
        ),
    ),
    Fault(
        "command line",
        "stdout closed early (`opsconsole status --json | head`, `tail … | head`)",
        "Any command ends quietly with status 141, as `ps` or `grep` do; no traceback.",
        (
            "tests/integration/test_cli_pipe.py::test_status_json_into_closed_pipe",
            "tests/integration/test_cli_pipe.py::test_tail_piped_to_head",
        ),
    ),
    Fault(
        "files",
        "umask 022: new files readable by every user of the server",
        "The audit trail is created 0600 in a 0700 `$XDG_STATE_HOME/opsconsole/`, `:export` "
        "notes 0600, whatever the umask; an audit trail or note left world-readable (an older "
        "version) is made private by the next write when it is ours. The directory a note is "
        "written to is left as it is.",
        (
            f"{FIL}::test_console_session_writes_private_audit_and_note",
            f"{FIL}::test_cli_action_makes_an_older_world_readable_audit_trail_private",
            f"{FIL}::test_export_over_a_world_readable_note_leaves_it_private",
            "tests/unit/test_actions.py::test_audit_trail_modes_do_not_depend_on_the_umask",
            "tests/unit/test_export.py::test_note_is_private_whatever_the_umask",
        ),
    ),
    Fault(
        "outside text",
        "any bytes as an XML-RPC answer, any well-formed answer of any shape",
        "A value or a typed error with operator words — never a crash (hypothesis).",
        (
            "tests/unit/test_supervisor_protocol.py::"
            "test_any_bytes_give_a_value_or_a_supervisor_error",
            f"{RPC}::test_any_well_formed_answer_gives_a_value_or_a_supervisor_error",
        ),
    ),
    Fault(
        "outside text",
        "any `nginx -t` / `nginx -V` output",
        "Diagnostics with file and line where nginx gives them; never a crash (hypothesis).",
        (
            "tests/unit/test_nginx_parse.py::test_diagnostics_never_crash",
            "tests/unit/test_nginx_parse.py::test_build_info_never_crashes",
        ),
    ),
    Fault(
        "outside text",
        "gunicorn control-socket frames: garbage, cut short, oversized",
        "A clear frame error, or waiting for the rest; an oversized length is refused before "
        "its payload is read (hypothesis).",
        (
            "tests/unit/test_gunicorn_parse.py::test_garbage_gives_a_clear_frame_error_or_waits",
            "tests/unit/test_gunicorn_parse.py::"
            "test_oversized_length_is_refused_before_the_payload_arrives",
            "tests/unit/test_gunicorn_parse.py::test_answer_parsers_never_raise",
        ),
    ),
    Fault(
        "outside text",
        "log lines of any bytes; levels and timestamps of any text",
        "Shown inert (no escape sequence or markup takes effect); every line once whatever the "
        "read sizes (hypothesis).",
        (
            "tests/unit/test_logs_parse.py::test_decoded_bytes_are_inert",
            "tests/unit/test_logs_parse.py::test_parsers_never_raise",
            "tests/unit/test_logs_parse.py::test_splitter_gives_each_line_once_whatever_the_chunks",
        ),
    ),
    Fault(
        "outside text",
        "config files of any text: supervisord.conf, config.toml, gunicorn.conf.py, nginx.conf",
        "A clear config error or a model with its problems listed in words — never a crash "
        "(hypothesis).",
        (
            "tests/unit/test_config_fuzz.py::test_supervisor_ini_any_text",
            "tests/unit/test_config_fuzz.py::test_toml_config_any_document",
            "tests/unit/test_gunicorn_parse.py::test_config_parser_never_raises",
            "tests/faults/test_parser_fuzz.py::test_nginx_config_of_any_text_is_reported_not_raised",
        ),
    ),
    Fault(
        "supervisor",
        "a program fails to start during a rolling restart",
        "The roll stops there: *stopped at grp:p2: … ; not restarted: grp:p3*; the programs "
        "after it keep running untouched (same pids); one audit record says why (CLI: exit 1).",
        (
            f"{ROLL}::test_a_failing_member_stops_the_roll_and_the_rest_keep_running",
            f"{ROLL}::test_cli_rolling_restart_asks_refuses_and_stops_at_a_failure",
        ),
    ),
    Fault(
        "supervisor",
        "one program of a [group:] changed in the config (supervisor #1154, #591)",
        "`update` says before `y` that supervisord stops and starts every running process of "
        "the group, not only the changed program, and applies one group at a time; the pids "
        "that change are exactly the ones listed.",
        (
            f"{ROLL}::test_update_preview_lists_every_process_supervisord_restarts",
            "tests/tui/test_rolling.py::test_update_asks_group_by_group_naming_every_restart",
        ),
    ),
    Fault(
        "nginx",
        "a config change that fails `nginx -t` or is rejected",
        "The old config keeps serving and the console offers *d: what changed since the last "
        "good config; U: roll back to it*; `U` shows the diff, asks once listing the files, "
        "writes back only those (the current ones kept as `.rejected`, added files left and "
        "listed), tests, reloads, verifies.",
        (
            f"{NHIST}::test_good_reload_then_bad_change_diff_and_rollback",
            "tests/tui/test_diff_viewer.py::test_after_a_failed_reload_u_shows_the_diff_then_rolls_back",
        ),
    ),
    Fault(
        "nginx",
        "the last good config fails too (something outside the config changed)",
        "*the rolled-back config fails too: …*; the good files stay written back, the "
        "`.rejected` files stay, nothing is reloaded, the old config serves.",
        (f"{NHIST}::test_rollback_of_a_config_that_fails_too_leaves_the_rejected_files",),
    ),
    Fault(
        "gunicorn",
        "a worker stuck in a request",
        "`S` shows its Python stack via py-spy and the worker keeps running. Without py-spy or "
        "ptrace rights it says why and asks about ABRT (which kills it) instead.",
        (
            f"{SPY}::test_dump_shows_the_function_the_worker_is_stuck_in",
            f"{SPY}::test_s_in_the_gunicorn_view_shows_the_stack_and_offers_abrt_without_py_spy",
        ),
    ),
    Fault(
        "exporter",
        "supervisord does not answer within the scrape timeout",
        "The scrape returns in time with the last values and `opsconsole_scrape_stale 1`, "
        '`opsconsole_collect_ok{part="programs"} 0`; it never hangs.',
        (
            "tests/unit/test_metrics_alerts.py::"
            "test_a_scrape_never_waits_past_its_timeout_and_serves_the_last_values_stale",
        ),
    ),
    Fault(
        "alerts",
        "a webhook or alert command fails (refused, exit status, timeout, missing)",
        "Said in words on the timeline or stderr (*alert NAME (webhook http://host) failed: "
        "connect error*, *exited with status 3: …*, *killed after N s*); nothing raises, the "
        "other destinations still get it; a webhook's token is never shown.",
        (f"{ALR}::test_failing_destinations_are_reported_in_words_and_never_raise",),
    ),
    Fault(
        "ssh",
        "sshd killed mid-session, then started again",
        "The host's programs are shown stale with ssh's words; it reconnects by itself once "
        "sshd is back.",
        (f"{FLT}::test_sshd_killed_mid_session_then_restarted_reconnects",),
    ),
    Fault(
        "ssh",
        "the agent on a host killed (SIGKILL)",
        "The link turns stale with *the agent on web3 was killed by SIGKILL*; it comes back by "
        "itself.",
        (
            f"{FLT}::test_agent_killed_is_said_and_the_link_comes_back",
            f"{AGT}::test_killed_agent_is_said_in_words_and_reconnected",
        ),
    ),
    Fault(
        "ssh",
        "a host (or its agent) SIGSTOPped",
        "That host times out (*web3 did not answer … within 2s (last answer Ns ago)*), is "
        "marked stale with its age; the other hosts answer without waiting for it.",
        (
            f"{FLT}::test_a_stopped_host_does_not_hold_up_another",
            f"{AGT}::test_stopped_agent_times_out_stale_and_other_host_answers",
        ),
    ),
    Fault(
        "ssh",
        "host key changed",
        "Refused, never overridden; ssh's fingerprint and the offending known_hosts line are "
        "quoted; nothing runs there.",
        (f"{FLT}::test_a_changed_host_key_is_refused_quoting_ssh",),
    ),
    Fault(
        "ssh",
        "host unknown, connection refused, host key unknown, key refused",
        "Each in words with a hint (the alias, sshd and its port, connect once and check the "
        "fingerprint, `ssh-add` or a master connection); the good hosts still answer.",
        (f"{FCLI}::test_each_ssh_failure_is_said_in_words_and_the_good_host_still_answers",),
    ),
    Fault(
        "ssh",
        "opsconsole not installed on the host",
        "*not installed on HOST*: install it with pip there, or set `--agent` / `agent =` in "
        "`[[host]]`.",
        (f"{FCLI}::test_agent_not_installed_says_how_to_install_it",),
    ),
    Fault(
        "ssh",
        "an agent of another protocol version",
        "Down, not retried; says which side to upgrade.",
        (
            f"{FLT}::test_an_agent_of_another_protocol_says_which_side_to_upgrade",
            f"{AGT}::test_version_skew_says_which_side_to_upgrade",
        ),
    ),
    Fault(
        "agent",
        "a login script prints a banner on stdout",
        "Down: *did not start with a hello: it wrote '…'*, with a hint about login scripts.",
        (f"{AGT}::test_a_login_banner_on_stdout_is_said_in_words",),
    ),
    Fault(
        "agent",
        "an oversize or garbage line, either way",
        "An error in words; that connection is reset (the agent exits 2, or the console's link "
        "resets and reconnects), never the console.",
        (
            f"{AGT}::test_lines_over_the_bound_or_garbage_reset_the_connection",
            f"{AGT}::test_a_line_over_the_consoles_bound_resets_the_link",
        ),
    ),
    Fault(
        "agent",
        "a mutating request sent raw to a `--read-only` agent (past the console's gate)",
        "Refused by the agent itself and audited with the ssh user; the program keeps running.",
        (f"{AGT}::test_read_only_agent_refuses_a_raw_mutating_request",),
    ),
    Fault(
        "fleet",
        "a change fails on one host",
        "Stops there: *stopped at HOST; not run on: …*; the next host only after the changed "
        "one is RUNNING with green probes for 3 s.",
        (f"{FDEMO}::test_a_restart_goes_one_host_at_a_time_and_stops_at_the_first_failure",),
    ),
    Fault(
        "fleet",
        "a host hangs (SIGSTOP) while the console shows several",
        "Its rows and its hosts-view entry turn `stale Ns` (never shown as current); the other "
        "host keeps refreshing and keys are answered; after SIGCONT it is up again, and both "
        "changes are on the timeline.",
        ("tests/fleet/test_tui_fleet.py::test_hosts_view_stale_host_and_narrowing",),
    ),
    Fault(
        "fleet",
        "over hosts, a rolling restart meets a program that fails to start",
        "The roll stops on that host: *rolling restart stopped on web1 at svc:a: …; not "
        "restarted on web1: svc:b; hosts not touched: web2 (svc:a, svc:b)* (exit 1); the later "
        "programs and hosts keep their pids.",
        (
            "tests/fleet/test_fleet_rolling.py::"
            "test_the_roll_stops_at_the_first_failure_naming_host_program_reason_and_what_is_left",
        ),
    ),
    Fault(
        "fleet",
        "ctrl-c during a rolling restart over hosts",
        "The program being restarted is finished and verified first; then *cancelled by the "
        "operator; not restarted: svc:b* on that host, the next hosts are not touched (their "
        "pids unchanged) and the command exits 1 naming them.",
        (
            "tests/fleet/test_fleet_rolling.py::"
            "test_ctrl_c_stops_the_roll_after_the_current_step_and_leaves_the_next_host_alone",
        ),
    ),
    Fault(
        "fleet",
        "a host's agent dies and its host cannot be reached for a while",
        "Its rows turn `stale`/`down` with the link's reason (the other host stays current); the "
        "link reconnects by itself with a backoff and subscribes again (a whole snapshot first); "
        "*host answers again* is on the timeline.",
        (
            "tests/fleet/test_tui_fleet.py::test_a_dropped_link_shows_stale_and_comes_back_subscribed",
        ),
    ),
    Fault(
        "fleet",
        "`stack PID` with several hosts",
        "Refused before anything runs: *a worker's pid belongs to one host, and 2 are given "
        "(web1, web2)*, hint *give the one host the worker runs on: opsconsole stack PID --host "
        "HOST* (exit 2).",
        (
            "tests/fleet/test_fleet_nginx_history.py::test_stack_through_one_host_and_refused_over_two",
        ),
    ),
    Fault(
        "supervisor",
        "another client (a colleague's supervisorctl) stops, starts or adds a program while "
        "the console rests on an idle supervisord",
        "The next refresh asks supervisord and shows it: the process ended or started, the log "
        "was written, or supervisord's CPU moved (a request costs it more than idling); an idle "
        "supervisord is otherwise asked at least every 5 s.",
        (
            "tests/integration/test_supervisor_quiet.py::"
            "test_idle_polls_do_not_ask_and_changes_by_another_client_show_at_once",
            "tests/integration/test_supervisor_quiet.py::"
            "test_a_group_added_without_a_process_shows_from_supervisords_log",
        ),
    ),
    Fault(
        "fleet",
        "a host SIGSTOPped while its log is merged with another's (`:logs web`, `tail web -f`)",
        "The other host's lines keep coming; the stopped host is marked once (*[web3] ⋯ no "
        "answer for 1.0 s: its lines follow when it answers*) and named in the view's status; "
        "after SIGCONT its lines come back after *answering again after N s*.",
        (
            "tests/fleet/test_fleet_logs.py::test_a_stopped_host_does_not_stop_the_others_lines_and_is_marked",
        ),
    ),
    Fault(
        "fleet",
        "one host's log flooding a merged view",
        "At most 2000 lines of that host per read; the rest are counted in a marker line "
        "(*⋯ N lines not shown*).",
        (
            "tests/unit/test_log_merge.py::"
            "test_one_host_is_taken_at_most_budget_lines_a_poll_and_the_cut_is_said",
        ),
    ),
    Fault(
        "nginx",
        "a config file holds a line `# configuration file /etc/x:` (in a string or comment)",
        "The kept config is read from disk instead of the `nginx -T` dump (noted as unread); a "
        "rollback never writes `/etc/x`.",
        (
            "tests/unit/test_nginx_history.py::"
            "test_a_forged_file_marker_inside_a_config_file_is_not_taken_for_a_file",
        ),
    ),
    Fault(
        "soak",
        "30 minutes of programs flapping every few seconds and a log growing fast",
        "RSS and open file descriptors are sampled; `make soak` fails when either grows (not in "
        "`make test`). Last 30-minute run (1.8 M log lines, 6 rotations, 353 flaps, views "
        "walked every 30 s): RSS 86.0 → 87.7 MB first vs last quarter (+1.9 %), fds 9 → 9: "
        "FLAT. The two Textual leaks it found are worked around and tested "
        "(`tests/tui/test_long_session_memory.py`).",
        ("make soak",),
    ),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The README section (without the markers): a note and the markdown table."""
    lines = [
        "<!-- generated from tests/faults/catalog.py by "
        "`.venv/bin/python -m tests.faults.catalog --write`; "
        "tests/faults/test_catalog.py fails when it is out of date -->",
        "",
        "Each fault below is made for real in the test suite (processes of the demo stack, "
        "a tmpfs, another user) and the console is driven with its keys while it happens.",
        "",
        "| Where | Fault | What the console does | Shown by |",
        "| --- | --- | --- | --- |",
    ]
    for f in CATALOG:
        shown = "<br>".join(f"`{t}`" for t in f.tests)
        lines.append(f"| {f.area} | {_cell(f.fault)} | {_cell(f.behaviour)} | {shown} |")
    return "\n".join(lines)


def section(readme_text: str) -> str | None:
    """What stands between the markers now (None when they are missing)."""
    match = re.search(re.escape(BEGIN) + r"\n?(.*?)\n?" + re.escape(END), readme_text, re.S)
    return match.group(1) if match else None


def write(path: Path = README) -> bool:
    """Put the rendered table between the markers (added at the end, under a heading, when
    missing). Returns True when the file changed."""
    text = path.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{render()}\n{END}"
    if section(text) is None:
        new = text.rstrip("\n") + "\n\n## What happens when…\n\n" + block + "\n"
    else:
        pattern = re.escape(BEGIN) + r".*?" + re.escape(END)
        new = re.sub(pattern, lambda _: block, text, count=1, flags=re.S)
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv: list[str]) -> int:
    if "--write" in argv:
        print("README.md updated" if write() else "README.md already current")
        return 0
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
