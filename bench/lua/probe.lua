-- A light probe rather than a load: each connection waits the first argument's
-- milliseconds between requests, so the probe measures latency without adding to the load.
dofile("report.lua")

local pause = 10

function init(args)
   pause = tonumber(args[1]) or pause
end

function delay()
   return pause
end
