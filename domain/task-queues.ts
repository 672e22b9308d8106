// Task queue names shared by the clients that start workflows and the workers that poll them.
export const TaskQueues = {
  payments: 'payments',
  chain: 'chain',
} as const;
