import type { TestProject } from 'vitest/node';
import { startCluster, stopCluster, type PgInfo } from './pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: PgInfo;
  }
}

export default function setup(project: TestProject) {
  const pg = startCluster();
  project.provide('pg', pg);
  return () => stopCluster(pg);
}
