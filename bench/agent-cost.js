require('./agent-cost/main.js');
