-- wrk script: POST a different reservation each time (so every request is a durable append).
local counter = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name": "Guest %d-%d", "people": %d, "datetime": "2027-%02d-%02dT%02d:%02d", "notes": "load test %d/%d"}',
    id, counter, counter % 8 + 1, counter % 12 + 1, counter % 28 + 1, 8 + counter % 14, (counter % 4) * 15, id, counter)
  return wrk.format("POST", "/api/v1/reservations", { ["Content-Type"] = "application/json" }, body)
end
