#!/bin/bash
# tests/kernels/suite.sh [KVER...]: the kernel-dependent part of the suite on
# Debian's other kernels (default: 6.1 and 6.12), each booted once under qemu
# (run.sh): the verifier budget of every program, lifecycle cases, and the
# HTTP and message-bus exact-count cases. The host's kernel runs the whole
# suite (tests/run.sh); these are the cases whose outcome depends on the
# kernel: its verifier, its hooks (fexit before 6.3), its tracepoints.
# Prints one closing line per kernel and exits non-zero if any case failed.
set -u
cd "$(dirname "$0")/../.."

CASES=(
	test_cli.test_every_program_verifies_within_budget
	test_cli.test_check_reports_and_loads_probes
	test_scrape.test_families_say_they_run_on_which_hook
	test_lifecycle.test_crash_loop_counts_every_exit_and_restart
	test_lifecycle.test_exit_reasons_signal_completed_and_status
	test_lifecycle.test_health_goes_one_zero_one_across_restart
	test_lifecycle.test_forked_children_inherit_and_are_counted
	test_lifecycle.test_agents_running_before_the_daemon_are_found
	test_lifecycle.test_real_oom_kill_in_memory_limited_cgroup
	test_http.test_fastapi_counts_by_status_class
	test_http.test_keepalive_1000_requests_on_one_connection
	test_http.test_pipelined_requests_each_counted
	test_http.test_chunked_bodies_framed_chunk_by_chunk
	test_http.test_nginx_keepalive_sendfile_head_and_statuses
	test_outbound.test_agent_to_agent_calls_are_exact_edges_with_their_timings
	test_outbound.test_calls_given_up_and_cut_off
	test_tls.test_https_calls_of_every_python_client_are_exact_by_sni_peer
	test_llm.test_httpx_sync_and_async_streams_without_usage_are_estimated
	test_llm.test_plain_http_base_url_is_read_too
	test_bus.test_list_messages_and_depth_are_exact
	test_bus.test_pubsub_two_subscribers
	test_bus.test_resp3_replies
	test_bus.test_nats_queue_group_deliveries_are_exact
)

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
rc=0
for k in "${kernels[@]}"; do
	echo "== kernel $k (qemu, TCG): ${#CASES[@]} cases"
	# The e2e runner's closing line, named after the kernel it ran on.
	# Each daemon verifies its programs anew (~15 s under TCG) and a uvicorn
	# agent imports FastAPI (~10 s): what starts gets 90 s.
	tests/kernels/run.sh "$k" --timeout 1200 --env AGENTBPF_E2E_START_S=90 -- \
		/usr/bin/python3 tests/e2e/run.py "${CASES[@]}" |
		sed -u "s/^e2e: \([0-9]* passed, [0-9]* failed\)$/kernel-$k: \1/"
	st=${PIPESTATUS[0]}
	if [ "$st" -ne 0 ]; then
		echo "kernel $k: FAILED (exit $st)"
		rc=1
	fi
done
exit $rc
