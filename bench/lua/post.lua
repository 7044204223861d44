-- POST the same JSON body (the script's first argument) on every request.
dofile("report.lua")

function init(args)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.body = args[1]
end
