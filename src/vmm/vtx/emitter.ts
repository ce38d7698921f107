// A minimal typed event emitter: the engine must run in a browser, so no Node `events`.

export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners: { [K in keyof Events]?: ((e: Events[K]) => void)[] } = {};

  on<K extends keyof Events>(name: K, fn: (e: Events[K]) => void): () => void {
    const list = this.listeners[name] ?? (this.listeners[name] = []);
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof Events>(name: K, e: Events[K]): void {
    const list = this.listeners[name];
    if (list === undefined) return;
    for (const fn of [...list]) fn(e);
  }
}
