-- POST /api/v1/users/bulk with a batch of new users on every request. Emails must be new
-- each time: they combine a tag unique to this wrk process (first argument), the wrk
-- thread, a per-thread counter and the position in the batch. The batch size is the
-- second argument.
dofile("report.lua")

local threads = 0
local tag, size
local sent = 0

function setup(thread)
   threads = threads + 1
   thread:set("thread_number", threads)
end

function init(args)
   tag = args[1]
   size = tonumber(args[2])
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   sent = sent + 1
   local items = {}
   for i = 1, size do
      items[i] = string.format('{"email":"bulk-%s-%d-%d-%d@example.com","first_name":"Bulk","last_name":"User"}',
         tag, thread_number, sent, i)
   end
   return wrk.format(nil, nil, nil, '{"items":[' .. table.concat(items, ",") .. "]}")
end
