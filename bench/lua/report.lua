-- Every scenario script loads this file: at the end of a run, wrk hands done() its
-- summary and latency histogram, and we print them as one JSON line after a marker, so
-- that the runner reads numbers instead of scraping wrk's human-readable text.
-- Latencies are in microseconds, as wrk records them.

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'wrk-report: {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
